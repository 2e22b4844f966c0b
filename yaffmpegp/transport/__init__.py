"""Where segments are encoded: this machine (local) or a host reached over SSH.

Both implement `Transport`, so the per-host pipeline is written once.
"""
from .base import FFmpegRun, HostInfo, HostRequirements, Transport

__all__ = ["FFmpegRun", "HostInfo", "HostRequirements", "Transport"]
