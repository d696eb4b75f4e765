from chassis.migrate import run_env
from products.models import Base

run_env(Base.metadata)
