"""Transport and account security: TLS certificates, password hashing."""
