from fixtures_aws import *  # noqa
