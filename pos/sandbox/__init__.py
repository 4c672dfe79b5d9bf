"""A WeChat Pay v2 simulator: the server side of the protocol, on loopback.

Any correct v2 client works against it by changing only its base URL. Modules:

- ``app``       the Flask app factory ``create_app(state, settings)``
- ``api``       the real paths (``/pay/unifiedorder`` ... and ``/sandboxnew/...``): the gate
                (method, body, XML, merchant, signature) and WeChat's answer shapes
- ``engine``    the business rules: order states, re-entry, close, expiry, refunds, mode one
- ``notifier``  background delivery of notices with WeChat's retry schedule and fault switches
- ``customer``  ``/_sim/*``: the customer's phone page, pay/scan, clock, faults, delivery log
- ``bills``     the day's bill from the simulator's orders (written by ``pos.wechatpay.bills``)
- ``state``     orders and refunds, optionally kept in a JSON file written atomically
- ``settings``  identity, time scale, guards and ``Faults``; ``clock`` the movable clock
- ``validate``  the field rules; ``ids`` WeChat-shaped identifiers; ``errors`` the three kinds of no
- ``server``    waitress in a thread; ``testing`` ``running_simulator()`` for other tests and the demo
- ``cli``       ``pos sim``
- the hard cases, each a ``Faults`` switch: ``callfaults`` (SYSTEMERROR / hung calls),
  ``tradestates`` (USERPAYING, PAYERROR, REVOKED), ``earlyclose`` (a close within 5 minutes),
  ``refundflow`` (PROCESSING, CHANGE, REFUNDCLOSE), ``coupons`` (cash_fee < total_fee)

Nothing in production imports this package except ``pos.cli`` and the demo.
"""
