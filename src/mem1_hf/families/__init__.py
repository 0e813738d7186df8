"""The task families: one package each, holding all of the family; its ``task_env`` module
registers its :class:`~mem1_hf.task_env.TaskEnvironment` with :func:`mem1_hf.task_env.register_family`.

* :mod:`mem1_hf.families.qa` — multi-objective question answering over a search environment
  (local corpus, retrieval server, web), scored with EM/F1 against the task's gold answers; its
  scripted expert;
* :mod:`mem1_hf.families.webshop` — WebShop shopping episodes, scored with WebShop's reward: the
  shop simulator (catalog, search engine, goals, pages, reward), its scripted expert.

A new family is a new package here, listed in :data:`mem1_hf.task_env.FAMILY_MODULES`.

Example:
    >>> from mem1_hf.task_env import families
    >>> sorted(families())
    ['qa', 'webshop']
"""
