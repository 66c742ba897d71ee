"""A provider's whole life against the simulator, driven by Hetzner's own Python library (python3-hcloud)
unchanged. Reads HCLOUD_ENDPOINT, HCLOUD_TOKEN and a JSON file of public keys (argv[1]); prints what it
observed as one JSON object, which official-clients.test.ts judges."""
import json
import os
import sys

from hcloud import APIException, Client
from hcloud.firewalls.domain import FirewallRule
from hcloud.images.domain import Image
from hcloud.locations.domain import Location
from hcloud.server_types.domain import ServerType
from hcloud.ssh_keys.domain import SSHKey

endpoint = os.environ["HCLOUD_ENDPOINT"]
client = Client(token=os.environ["HCLOUD_TOKEN"], api_endpoint=endpoint, poll_interval=0.01)
with open(sys.argv[1]) as keys_file:
    keys = json.load(keys_file)
seen = {}


def error_code(call):
    try:
        call()
    except APIException as error:
        return error.code
    return None


def create_and_wait(**kwargs):
    created = client.servers.create(**kwargs)
    created.action.wait_until_finished()
    for action in created.next_actions:
        action.wait_until_finished()
    return client.servers.get_by_id(created.server.id)


# Catalogue lookups by name and by id; a datacenter's available types load lazily, by id.
server_type = client.server_types.get_by_name("cx23")
image = client.images.get_by_name("ubuntu-24.04")
location = client.locations.get_by_name("nbg1")
datacenter = client.datacenters.get_by_name("nbg1-dc3")
seen["catalogue_by_id"] = [
    client.server_types.get_by_id(server_type.id).name,
    client.images.get_by_id(image.id).name,
    client.locations.get_by_id(location.id).name,
    client.datacenters.get_by_id(datacenter.id).name,
]
seen["datacenter_available"] = sorted(t.name for t in datacenter.server_types.available)

# An SSH key and a firewall with labels.
key = client.ssh_keys.create(name="peer-py", public_key=keys[0], labels={"owner": "peer-py"})
rule = FirewallRule(direction="in", protocol="tcp", port="22", source_ips=["0.0.0.0/0"])
firewall = client.firewalls.create(name="peer-py-fw", rules=[rule], labels={"owner": "peer-py"}).firewall
seen["labels"] = [client.ssh_keys.get_by_id(key.id).labels, client.firewalls.get_by_name("peer-py-fw").labels]

# Servers given bound objects (sent as ids) and given bare names; the library waits on action and next_actions.
by_ids = create_and_wait(
    name="peer-py-ids",
    server_type=server_type,
    image=image,
    location=location,
    ssh_keys=[key],
    firewalls=[firewall],
    labels={"owner": "peer-py", "form": "ids"},
)
by_names = create_and_wait(
    name="peer-py-names",
    server_type=ServerType(name="cx23"),
    image=Image(name="ubuntu-24.04"),
    location=Location(name="nbg1"),
    ssh_keys=[SSHKey(name="peer-py")],
    labels={"owner": "peer-py", "form": "names"},
)
seen["created"] = [
    [s.name, s.status, s.server_type.name, s.image.name, s.datacenter.location.name] for s in (by_ids, by_names)
]
seen["firewall_applied"] = [f.firewall.id == firewall.id for f in by_ids.public_net.firewalls]
seen["primary_ip_ids_distinct"] = (
    len({by_ids.id, by_ids.public_net.primary_ipv4.id, by_ids.public_net.primary_ipv6.id}) == 3
)
# Loads the primary IP lazily, by id.
seen["primary_ipv4"] = [by_ids.public_net.primary_ipv4.ip == by_ids.public_net.ipv4.ip, by_ids.public_net.primary_ipv4.assignee_id == by_ids.id]
seen["get_by_name_and_id"] = [
    client.servers.get_by_name("peer-py-names").id == by_names.id,
    client.servers.get_by_id(by_names.id).name,
]
seen["label_selector"] = sorted(s.name for s in client.servers.get_all(label_selector="owner=peer-py,form in (ids)"))

# More than 50 keys: get_all pages through them, 50 per request.
for index, public_key in enumerate(keys[1:56]):
    client.ssh_keys.create(name=f"peer-py-page-{index}", public_key=public_key, labels={"batch": "peer-py"})
seen["paged_keys"] = len(client.ssh_keys.get_all(label_selector="batch=peer-py"))

# Rename and relabel a server, a key and a firewall.
renamed = by_ids.update(name="peer-py-renamed", labels={"owner": "peer-py", "tier": "gold"})
seen["renamed"] = [renamed.name, renamed.labels, client.servers.get_by_name("peer-py-ids") is None]
seen["renamed_key"] = client.ssh_keys.update(key, name="peer-py-key", labels={"rotated": "yes"}).name
seen["renamed_firewall"] = client.firewalls.update(firewall, name="peer-py-fw-2", labels={}).name

# Delete protection on and off; a protected server refuses deletion and stays.
by_names.change_protection(delete=True, rebuild=True).wait_until_finished()
seen["protection_on"] = client.servers.get_by_id(by_names.id).protection
seen["delete_protected"] = error_code(lambda: client.servers.delete(by_names))
seen["still_there"] = client.servers.get_by_id(by_names.id).status
by_names.change_protection(delete=False, rebuild=False).wait_until_finished()
seen["protection_off"] = client.servers.get_by_id(by_names.id).protection

# Delete and wait; then the errors a client meets.
for server in (by_names, renamed):
    client.servers.delete(server).wait_until_finished()
seen["gone"] = [error_code(lambda s=s: client.servers.get_by_id(s.id)) for s in (by_names, renamed)]
seen["firewall_deleted"] = client.firewalls.delete(firewall)
seen["errors"] = {
    "unauthorized": error_code(lambda: Client(token="wrong", api_endpoint=endpoint).locations.get_all()),
    "not_found": error_code(lambda: client.ssh_keys.get_by_id(1)),
    "uniqueness_error": error_code(lambda: client.ssh_keys.create(name="peer-py-page-0", public_key=keys[56])),
    "invalid_input": error_code(lambda: client.servers.create(name="not_a_hostname", server_type=server_type, image=image)),
}
print(json.dumps(seen))
