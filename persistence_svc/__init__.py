"""persistence_svc"""
