"""The stages: each turns the model and earlier stages' files into its own files."""
