"""bookrec: semantic book recommendations for Django, on PostgreSQL + pgvector."""

__version__ = "0.1.0"
