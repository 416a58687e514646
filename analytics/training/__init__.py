"""Training, export and evaluation of the shipped fire / smoke / flood models."""
