"""Shared test setup for the whole suite.

Every test runs offline: nothing may reach the Hugging Face Hub, so a missing local file fails
fast instead of hanging on the network. Set here, at import, so subprocesses inherit it too.
"""

import os

os.environ["HF_HUB_OFFLINE"] = "1"
