"""HTTP plumbing shared by every route: JSON errors and their one status mapping, bounded
body reads, CORS, principals and access checks."""
