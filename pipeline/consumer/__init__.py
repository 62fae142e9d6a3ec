"""The classifier's processing chain: small steps with one contract, built by one factory.

decode → dead letters → batch → inference (thread) → store (thread) → commit (always last).
"""
