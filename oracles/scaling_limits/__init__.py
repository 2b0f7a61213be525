"""Limit laws of softmax attention over long random contexts (Bruno, Chen, Lin, Polyanskiy, Rigollet 2026)."""
