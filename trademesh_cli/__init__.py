"""trademesh_cli"""
