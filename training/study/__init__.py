"""The lag study: how the cost of learning the temporal order task grows with the time lag.

temporal-order study lags --lags 100,200,400 --arch lstm --trials 10 --budget 200000
"""
