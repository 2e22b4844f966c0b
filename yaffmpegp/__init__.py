"""yaffmpegp: yet another ffmpeg parallelizer."""
__version__ = "0.1.0"
