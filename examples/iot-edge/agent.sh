#!/bin/sh
# A stand-in for a real edge agent: reports the machine it runs on.
echo "edge agent on $(cat /etc/agent-arch)"
