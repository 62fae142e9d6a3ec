"""Fine-tuning, evaluation and export of the multi-task model (torch lives only here)."""
