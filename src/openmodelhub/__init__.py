"""OpenModelHub: a self-hostable hub for open models and datasets, speaking the Hugging Face Hub protocol."""

__version__ = "0.1.0"
