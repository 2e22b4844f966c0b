"""The Slurm backend: each input's segments encoded by one job array on a cluster that
shares the work dir (--backend slurm)."""
from .dispatcher import SlurmDispatcher

__all__ = ["SlurmDispatcher"]
