"""Training hooks for the user's view of a run (summary pictures)."""
from .run_summary import RunSummaryHook, plot_run_summary

__all__ = ['RunSummaryHook', 'plot_run_summary']
