def resolve_data(d, cache_dir=None): return d
def load_catalog(path=None): return {}
def catalog_path(): return None
