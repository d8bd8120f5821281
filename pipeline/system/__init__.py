"""The machine: files written atomically, ffmpeg, Chromium over CDP, and where the tools are."""
