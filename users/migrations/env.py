from chassis.migrate import run_env
from users.models import Base

run_env(Base.metadata)
