# Makes this directory ship inside the wheel; ``evaluate.load`` reads ``mem1_qa.py`` directly.
