"""Bank-broker adapter (银行业金融机构查询): deposits, securities and insurance cash value over SOAP 1.1."""

from adapters.banking.adapter import BankingAdapter

__all__ = ["BankingAdapter"]
