"""The reviewer workbench: the judgement store (decisions, leases, accounts), decisions fed back
to runs, and the export of labels. See docs/review.md."""

from linkage.review.settings import ReviewSettings, load_review_settings
from linkage.review.store import Judgement, ReviewError, Session, Store, User

__all__ = ["Judgement", "ReviewError", "ReviewSettings", "Session", "Store", "User", "load_review_settings"]
