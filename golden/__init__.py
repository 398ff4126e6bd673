"""Bit-exact integer model of every hardware block, float references, datasets, encoders.

This package is the written-down numeric contract of spikefab: every integer the
hardware computes is defined here first. It never imports Amaranth.
"""
