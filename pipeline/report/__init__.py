"""The release report."""
