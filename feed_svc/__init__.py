"""feed_svc"""
