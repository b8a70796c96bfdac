"""Activation (DESIGN §9): destinations, the delivery loop with its cursors, next-best actions and holdouts."""
