"""Proof about stories before anyone plays them: the checker's warnings,
variable domains, and the explorer of the (scene, state) space.
"""
