"""Model catalogue (``configs/models.yaml``) and tooling (export, eval)."""
