from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class User(_message.Message):
    __slots__ = ("id", "name", "email", "balance")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    email: str
    balance: int
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., email: _Optional[str] = ..., balance: _Optional[int] = ...) -> None: ...

class GetUserRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    def __init__(self, user_id: _Optional[str] = ...) -> None: ...

class DebitRequest(_message.Message):
    __slots__ = ("user_id", "amount")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    amount: int
    def __init__(self, user_id: _Optional[str] = ..., amount: _Optional[int] = ...) -> None: ...

class Concert(_message.Message):
    __slots__ = ("id", "title", "seats_total", "seats_left", "price")
    ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    SEATS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    SEATS_LEFT_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    id: str
    title: str
    seats_total: int
    seats_left: int
    price: int
    def __init__(self, id: _Optional[str] = ..., title: _Optional[str] = ..., seats_total: _Optional[int] = ..., seats_left: _Optional[int] = ..., price: _Optional[int] = ...) -> None: ...

class GetConcertRequest(_message.Message):
    __slots__ = ("concert_id",)
    CONCERT_ID_FIELD_NUMBER: _ClassVar[int]
    concert_id: str
    def __init__(self, concert_id: _Optional[str] = ...) -> None: ...

class ReserveRequest(_message.Message):
    __slots__ = ("concert_id", "user_id")
    CONCERT_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    concert_id: str
    user_id: str
    def __init__(self, concert_id: _Optional[str] = ..., user_id: _Optional[str] = ...) -> None: ...

class Reservation(_message.Message):
    __slots__ = ("id", "concert_id", "user_id", "price")
    ID_FIELD_NUMBER: _ClassVar[int]
    CONCERT_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    id: str
    concert_id: str
    user_id: str
    price: int
    def __init__(self, id: _Optional[str] = ..., concert_id: _Optional[str] = ..., user_id: _Optional[str] = ..., price: _Optional[int] = ...) -> None: ...

class ReleaseRequest(_message.Message):
    __slots__ = ("concert_id", "reservation_id")
    CONCERT_ID_FIELD_NUMBER: _ClassVar[int]
    RESERVATION_ID_FIELD_NUMBER: _ClassVar[int]
    concert_id: str
    reservation_id: str
    def __init__(self, concert_id: _Optional[str] = ..., reservation_id: _Optional[str] = ...) -> None: ...

class WatchSeatsRequest(_message.Message):
    __slots__ = ("concert_id", "updates")
    CONCERT_ID_FIELD_NUMBER: _ClassVar[int]
    UPDATES_FIELD_NUMBER: _ClassVar[int]
    concert_id: str
    updates: int
    def __init__(self, concert_id: _Optional[str] = ..., updates: _Optional[int] = ...) -> None: ...

class SeatCount(_message.Message):
    __slots__ = ("concert_id", "seats_left")
    CONCERT_ID_FIELD_NUMBER: _ClassVar[int]
    SEATS_LEFT_FIELD_NUMBER: _ClassVar[int]
    concert_id: str
    seats_left: int
    def __init__(self, concert_id: _Optional[str] = ..., seats_left: _Optional[int] = ...) -> None: ...

class ReservationBatch(_message.Message):
    __slots__ = ("reservations",)
    RESERVATIONS_FIELD_NUMBER: _ClassVar[int]
    reservations: _containers.RepeatedCompositeFieldContainer[Reservation]
    def __init__(self, reservations: _Optional[_Iterable[_Union[Reservation, _Mapping]]] = ...) -> None: ...

class ChargeRequest(_message.Message):
    __slots__ = ("user_id", "amount", "reference")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    amount: int
    reference: str
    def __init__(self, user_id: _Optional[str] = ..., amount: _Optional[int] = ..., reference: _Optional[str] = ...) -> None: ...

class Payment(_message.Message):
    __slots__ = ("id", "user_id", "amount", "reference")
    ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    id: str
    user_id: str
    amount: int
    reference: str
    def __init__(self, id: _Optional[str] = ..., user_id: _Optional[str] = ..., amount: _Optional[int] = ..., reference: _Optional[str] = ...) -> None: ...

class NotifyRequest(_message.Message):
    __slots__ = ("user_id", "message")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    message: str
    def __init__(self, user_id: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class Notification(_message.Message):
    __slots__ = ("id", "user_id", "message")
    ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    id: str
    user_id: str
    message: str
    def __init__(self, id: _Optional[str] = ..., user_id: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class ListNotificationsRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    def __init__(self, user_id: _Optional[str] = ...) -> None: ...

class NotificationList(_message.Message):
    __slots__ = ("notifications",)
    NOTIFICATIONS_FIELD_NUMBER: _ClassVar[int]
    notifications: _containers.RepeatedCompositeFieldContainer[Notification]
    def __init__(self, notifications: _Optional[_Iterable[_Union[Notification, _Mapping]]] = ...) -> None: ...

class PlaceOrderRequest(_message.Message):
    __slots__ = ("user_id", "concert_id")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    CONCERT_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    concert_id: str
    def __init__(self, user_id: _Optional[str] = ..., concert_id: _Optional[str] = ...) -> None: ...

class Order(_message.Message):
    __slots__ = ("id", "user_id", "concert_id", "reservation_id", "payment_id", "amount", "status", "notified")
    ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    CONCERT_ID_FIELD_NUMBER: _ClassVar[int]
    RESERVATION_ID_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    NOTIFIED_FIELD_NUMBER: _ClassVar[int]
    id: str
    user_id: str
    concert_id: str
    reservation_id: str
    payment_id: str
    amount: int
    status: str
    notified: bool
    def __init__(self, id: _Optional[str] = ..., user_id: _Optional[str] = ..., concert_id: _Optional[str] = ..., reservation_id: _Optional[str] = ..., payment_id: _Optional[str] = ..., amount: _Optional[int] = ..., status: _Optional[str] = ..., notified: _Optional[bool] = ...) -> None: ...

class GetOrderRequest(_message.Message):
    __slots__ = ("order_id",)
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    def __init__(self, order_id: _Optional[str] = ...) -> None: ...

class JoinRequest(_message.Message):
    __slots__ = ("user_id", "ahead")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    AHEAD_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    ahead: int
    def __init__(self, user_id: _Optional[str] = ..., ahead: _Optional[int] = ...) -> None: ...

class QueuePosition(_message.Message):
    __slots__ = ("ahead",)
    AHEAD_FIELD_NUMBER: _ClassVar[int]
    ahead: int
    def __init__(self, ahead: _Optional[int] = ...) -> None: ...
