"""Where tickerdesk may send a request on a user's behalf: public addresses only.

Webhooks let a user choose a URL the server will POST to; an address inside the
network (the API itself, PostgreSQL, a cloud's metadata service) must never be one."""

import pytest

from tickerdesk.app.outbound_policy import allowed_host, refusal


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "private"),  # carrier-grade NAT, shared address space
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("fc00::1", "unique-local"),
        ("fd12:3456::1", "unique-local"),
        ("fec0::1", "site-local"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("ff02::1", "multicast"),
        ("169.254.169.254", "cloud metadata"),  # AWS, GCP, Azure, OpenStack...
        ("169.254.170.2", "cloud metadata"),  # ECS task metadata
        ("fd00:ec2::254", "cloud metadata"),  # AWS over IPv6
        ("100.100.100.200", "cloud metadata"),  # Alibaba
        ("168.63.129.16", "cloud metadata"),  # Azure's wire server: a public address
        ("192.0.0.192", "cloud metadata"),  # Oracle
        ("255.255.255.255", "not a public"),
        ("240.0.0.1", "not a public"),
        ("192.0.2.1", "not a public"),  # documentation
        ("198.18.0.1", "not a public"),  # benchmarking
        # IPv4 inside IPv6: the embedded address decides
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "cloud metadata"),
        ("64:ff9b::7f00:1", "loopback"),  # NAT64 of 127.0.0.1
        ("64:ff9b::a9fe:a9fe", "cloud metadata"),  # NAT64 of 169.254.169.254
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
        ("2002:a00:1::1", "private"),  # 6to4 of 10.0.0.1
        ("::127.0.0.1", "loopback"),  # IPv4-compatible (deprecated)
    ],
)
def test_addresses_inside_the_network_are_refused_with_a_reason(address, reason):
    refused = refusal(address)
    assert refused is not None and reason in refused, refused


@pytest.mark.parametrize("address", ["8.8.8.8", "93.184.215.14", "2606:4700::1111", "::ffff:8.8.8.8",
                                     "64:ff9b::808:808", "2002:808:808::1"])
def test_public_addresses_are_allowed(address):
    assert refusal(address) is None


def test_what_is_not_an_address_is_refused():
    assert refusal("localhost") is not None
    assert refusal("") is not None


def test_allowed_hosts_match_names_and_addresses_however_written():
    allowed = ["127.0.0.1", "Localhost", "::1"]
    assert allowed_host("localhost", allowed)
    assert allowed_host("LOCALHOST.", allowed)
    assert allowed_host("127.0.0.1", allowed)
    assert allowed_host("[::1]", allowed)
    assert allowed_host("0:0:0:0:0:0:0:1", allowed)
    assert not allowed_host("127.0.0.2", allowed)
    assert not allowed_host("localhost.example.com", allowed)
    assert not allowed_host("localhost", [])
