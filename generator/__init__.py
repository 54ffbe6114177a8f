"""Spec-to-code generator: pinned SDK types + support matrix -> generated/."""
