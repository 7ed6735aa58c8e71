//! Placeholder: the headless-Chromium login test lands here.
