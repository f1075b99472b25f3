"""Screen states: plain dataclasses with intent methods; they call the API and hold no controls."""

from mobile_app.state.admin import AccountsState, FundState, ModelsState, WeightsState
from mobile_app.state.bank import PortfolioState, ProspectsState, QueueState
from mobile_app.state.base import Loadable, Observable
from mobile_app.state.credit import CreditState
from mobile_app.state.financing import FinancingState
from mobile_app.state.firm import FirmOverviewState
from mobile_app.state.inbox import InboxState
from mobile_app.state.manage import AuditState, BanksState, ManageState
from mobile_app.state.me import MeState
from mobile_app.state.office import BatchesState, ObjectionQueueState, PolicyQueueState, UploadState
from mobile_app.state.policies import PoliciesState
from mobile_app.state.projects import ProjectPortfolioState, ProjectsState
from mobile_app.state.session import APP_ROLES, MemoryStore, SessionState, Store
from mobile_app.state.watch import SearchState, WatchlistState

__all__ = [
    "APP_ROLES", "AccountsState", "AuditState", "BanksState", "ManageState", "BatchesState", "FundState", "ModelsState", "ObjectionQueueState",
    "PolicyQueueState", "UploadState", "WeightsState", "CreditState", "FinancingState", "FirmOverviewState", "InboxState", "Loadable",
    "MeState", "MemoryStore", "Observable", "PoliciesState", "ProjectPortfolioState", "ProjectsState", "PortfolioState", "ProspectsState",
    "QueueState", "SearchState", "SessionState", "Store", "WatchlistState",
]
