"""The batched simulation engine: every peer a row of one tensor, over one frozen base model (docs/DESIGN-NOTES.md)."""
