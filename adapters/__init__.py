"""Agency adapters. Each sub-package speaks one agency's protocol; ``base`` is the contract they share."""
