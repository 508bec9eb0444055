{#- A property holds one value at a time: each of its periods ends before the next one starts. -#}
with periods as (

    select
        object_id,
        element,
        change_id,
        valid_from,
        valid_to,
        lead(valid_from) over (
            partition by object_id, element order by valid_from, valid_to, change_id
        ) as next_valid_from
    from {{ ref('lp_audittrail__property_history') }}

)

select *
from periods
where next_valid_from is not null and (valid_to is null or valid_to > next_valid_from)
