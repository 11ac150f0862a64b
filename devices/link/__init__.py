"""Host side of the rig firmware link (protocol v1, docs/rig-protocol.md) and a virtual firmware.

Modules: ``framing`` (COBS + CRC-32C + stream parser), ``protocol`` (header and messages),
``transport`` (serial / UDP), ``discovery`` (USB VID/PID, mDNS), ``security`` (pairing,
frame authentication, replay window), ``keystore``, ``clock_sync``, ``firmware`` (signed
images), ``client`` (``RigLink``, pairing and update procedures, ``RigLinkSource``),
``record`` (a paired rig as a recorder source), ``virtual_firmware`` (a rig in a process)
and ``sim_adapter`` (its view of ``devices.sim``).
"""
