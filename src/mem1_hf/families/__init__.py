"""The task families: one module each, registered with :func:`mem1_hf.task_env.register_family`.

* :mod:`mem1_hf.families.qa` — multi-objective question answering over a search environment
  (local corpus, retrieval server, web), scored with EM/F1 against the task's gold answers;
* :mod:`mem1_hf.families.webshop` — WebShop shopping episodes, scored with WebShop's reward.

A new family is a new module here, listed in :data:`mem1_hf.task_env.FAMILY_MODULES`.

Example:
    >>> from mem1_hf.task_env import families
    >>> sorted(families())
    ['qa', 'webshop']
"""
