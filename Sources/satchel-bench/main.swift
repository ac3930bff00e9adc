print("satchel-bench")
