"""Where the authors publish their trained SRN (the README of their repository), torch-free.

Kept apart from the catalogue so ``srn --help`` can quote the addresses without importing torch.
"""

from __future__ import annotations

AUTHORS_MODEL = "srn-r50-wider"
AUTHORS_REPO = "https://github.com/ChiCheng123/SRN"
AUTHORS_FILE = "SRN.pth"
AUTHORS_DRIVE_ID = "1T4Qt99SdM7c8G4ZuC1igensY0bZdEETF"
AUTHORS_BAIDU_URL = "https://pan.baidu.com/s/1ambmu1Bu6Oi7zTcEnigFyg"
AUTHORS_BAIDU_CODE = "6fba"
"""BaiduYun's extraction code; the share needs a browser, so it is documented, not automated."""
