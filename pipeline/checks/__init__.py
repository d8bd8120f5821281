"""The release checks and the gate that judges them."""
