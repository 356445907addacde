"""Shared pytest setup: one CPU thread, so that the package tests are fast and comparable on a
shared 2-core machine (notebooks run in their own kernels and are unaffected)."""
import torch

torch.set_num_threads(1)
