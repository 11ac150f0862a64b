"""Host side of the rig firmware link (protocol v1, docs/rig-protocol.md) and a virtual firmware.

Modules: ``framing`` (COBS + CRC-32C + stream parser), ``protocol`` (header and messages),
``transport`` (serial / UDP), ``discovery``, ``security`` (pairing, frame authentication),
``keystore``, ``clock_sync``, ``firmware`` (signed images, update procedure), ``client``
(a ``RigSource`` over a link) and ``virtual_firmware`` (a rig in a process).
"""
