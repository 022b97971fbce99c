"""Symbolic checkers used as verifiers: a PrOntoQA proof-step checker and a FOL prover (z3)."""

from ctxlab.solvers.proofs import ProofCheck, StepCheck, check_proof, parse_label

__all__ = ["ProofCheck", "StepCheck", "check_proof", "parse_label"]
