"""Async jobs for long audio: persisted in SQLite, run by a worker pool through ``Service``."""

from .models import Job, JobStatus, job_object, transcript_from_dict, transcript_to_dict
from .runner import JobRunner
from .store import JobStore

__all__ = [
    "Job",
    "JobRunner",
    "JobStatus",
    "JobStore",
    "job_object",
    "transcript_from_dict",
    "transcript_to_dict",
]
