// Training: SFT (the cold start) and, later, the GRPO loop.
